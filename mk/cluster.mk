# Virtual clusters on a real Kubernetes, with the seed's target names.
# Included from the main Makefile. Every target is a thin call of `kube-pmix`;
# the variables are the paper's, passed on as options.
#
#   make base-image                    Debian 12 base made with mmdebstrap, stored in
#                                      podman under the public image's name (offline builds)
#   make wheelhouse                    build/wheels: our package and its dependencies,
#                                      which the images install from (no index at build time)
#   make images push-images            build / push every image
#   make image-mpi push-mpi            one image (image-<name> builds its parents too)
#   make deploy-ssh-with-podman-unpriv login-... undeploy-...
#   make get-waitfor-log
#   make checkov-venv                  checkov in its own venv (it pins packages
#                                      that conflict with the project's venv)

KUBE_PMIX       ?= .venv/bin/kube-pmix
IMAGE_REGISTRY  ?= localhost/kube-pmix
IMAGE_TAG_NAME  ?= 0.1.0
IMAGE_BUILD_CMD ?= podman build
IMAGE_PUSH_CMD  ?= podman push
IMAGE_BASE      ?= docker.io/library/debian:bookworm
WHEELHOUSE      := build/wheels
NAMESPACE       ?= kube-pmix
REPLICAS        ?= 2
CHECKOV_VENV    ?= build/checkov-venv
CHECKOV_VERSION ?= 3.3.30
BASE_IMAGE_USER ?=

VC_VARIANTS := ssh ssh-with-mpi ssh-with-podman ssh-with-podman-unpriv \
               kubectl kubectl-with-mpi kubectl-with-podman kubectl-with-podman-unpriv
VC_IMAGES   := waitfor pmix-base runtime runtime-with-podman mpi mpi-with-runtime \
               nas nas-with-runtime gromacs gromacs-with-runtime

VC_IMG_ARGS    = --registry '$(IMAGE_REGISTRY)' --tag '$(IMAGE_TAG_NAME)'
VC_DEPLOY_ARGS = --namespace '$(NAMESPACE)' --replicas '$(REPLICAS)' $(VC_IMG_ARGS)

.PHONY: images push-images base-image wheelhouse get-waitfor-log checkov-venv \
        $(addprefix image-,$(VC_IMAGES)) $(addprefix push-,$(VC_IMAGES)) \
        $(addprefix deploy-,$(VC_VARIANTS)) $(addprefix login-,$(VC_VARIANTS)) \
        $(addprefix undeploy-,$(VC_VARIANTS))

# The base is only made here when it is the default one; any other IMAGE_BASE is
# pulled by the build as usual.
# BASE_IMAGE_USER: store it in that user's rootless podman (run as root).
base-image:
	bash scripts/base-image.sh $(if $(BASE_IMAGE_USER),--user '$(BASE_IMAGE_USER)')

# A fixed SOURCE_DATE_EPOCH makes our wheel byte-identical for identical
# sources, so podman's layer cache reuses the layers that install it.
wheelhouse: venv
	SOURCE_DATE_EPOCH=315532800 $(PY) -m pip wheel -q --find-links $(WHEELHOUSE) -w $(WHEELHOUSE) '.[mpi]'
	chmod -R a+rX build

# prrte-k8sgo: the runtime images build our PRRTE from the source it fetched
IMAGE_DEPS := wheelhouse prrte-k8sgo \
              $(if $(filter docker.io/library/debian:bookworm,$(IMAGE_BASE)),base-image)

images: $(IMAGE_DEPS)
	$(KUBE_PMIX) images build $(VC_IMG_ARGS) --base '$(IMAGE_BASE)' --build-cmd '$(IMAGE_BUILD_CMD)' --sizes build/images/sizes.md

push-images:
	$(KUBE_PMIX) images push $(VC_IMG_ARGS) --push-cmd '$(IMAGE_PUSH_CMD)'

$(addprefix image-,$(VC_IMAGES)): image-%: $(IMAGE_DEPS)
	$(KUBE_PMIX) images build $* $(VC_IMG_ARGS) --base '$(IMAGE_BASE)' --build-cmd '$(IMAGE_BUILD_CMD)' --sizes build/images/sizes.md

$(addprefix push-,$(VC_IMAGES)): push-%:
	$(KUBE_PMIX) images push $* $(VC_IMG_ARGS) --push-cmd '$(IMAGE_PUSH_CMD)'

$(addprefix deploy-,$(VC_VARIANTS)): deploy-%:
	$(KUBE_PMIX) deploy $* $(VC_DEPLOY_ARGS)

$(addprefix login-,$(VC_VARIANTS)): login-%:
	$(KUBE_PMIX) login $* --namespace '$(NAMESPACE)'

$(addprefix undeploy-,$(VC_VARIANTS)): undeploy-%:
	$(KUBE_PMIX) undeploy $* $(VC_DEPLOY_ARGS)

get-waitfor-log:
	$(KUBE_PMIX) waitfor-log --namespace '$(NAMESPACE)'

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON_BASE) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'

checkov-venv: $(CHECKOV_VENV)/bin/checkov

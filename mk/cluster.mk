# Virtual clusters on a real Kubernetes, with the seed's target names.
# Included from the main Makefile. Every target is a thin call of `kube-pmix`;
# the variables are the paper's, passed on as options.
#
#   make base-image                    Debian 12 base made with mmdebstrap, stored in
#                                      podman under the public image's name (offline builds)
#   make wheelhouse                    build/wheels: our package and its dependencies, as
#                                      wheels for the images' Python (Debian 12's 3.11, glibc
#                                      2.36, IMAGE_ARCH), which the images install from (no
#                                      index at build time), whatever Python this host runs
#   make prrte-source                  only the openmpi source package the runtime images
#                                      build PRRTE from (no host build)
#   make images push-images            build / push every image; `images` records what it
#                                      built and under which IMAGE_REGISTRY/IMAGE_TAG_NAME
#                                      (build/images/record.json): a later push or deploy
#                                      uses them unless told otherwise, and pushes only those.
#                                      IMAGE_PUSH_REGISTRY pushes to another address than the
#                                      images are named for (a registry reached through a
#                                      relay or port-forward), e.g. 127.0.0.1:PORT/kube-pmix
#   make image-mpi push-mpi            one image (image-<name> builds its parents too)
#   make deploy-ssh-with-podman-unpriv login-... undeploy-...
#   make login-kubectl COMMAND='prterun --map-by ppr:2:node hostname'
#   make deploy-fuse-plugin undeploy-fuse-plugin   our /dev/fuse device plugin (-unpriv)
#   make get-waitfor-log
#   make checkov-venv                  checkov in its own venv (it pins packages
#                                      that conflict with the project's venv)

KUBE_PMIX       ?= .venv/bin/kube-pmix
# Empty: kube-pmix's own defaults (localhost/kube-pmix and 0.1.0 for a build; what the
# last build recorded for a push or deploy).
IMAGE_REGISTRY  ?=
IMAGE_TAG_NAME  ?=
IMAGE_PUSH_REGISTRY ?=
IMAGE_BUILD_CMD ?= podman build
IMAGE_PUSH_CMD  ?= podman push
IMAGE_BASE      ?= docker.io/library/debian:bookworm
IMAGE_ARCH      ?= $(shell uname -m)
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

VC_IMG_ARGS    = $(if $(IMAGE_REGISTRY),--registry '$(IMAGE_REGISTRY)') \
                 $(if $(IMAGE_TAG_NAME),--tag '$(IMAGE_TAG_NAME)')
VC_PUSH_ARGS   = $(VC_IMG_ARGS) --push-cmd '$(IMAGE_PUSH_CMD)' \
                 $(if $(IMAGE_PUSH_REGISTRY),--push-registry '$(IMAGE_PUSH_REGISTRY)')
# DEPLOY_ARGS: more `kube-pmix deploy` options (--existing-namespace, --spread soft, ...)
VC_DEPLOY_ARGS = --namespace '$(NAMESPACE)' --replicas '$(REPLICAS)' $(VC_IMG_ARGS) $(DEPLOY_ARGS)

.PHONY: images push-images base-image wheelhouse prrte-source get-waitfor-log checkov-venv \
        deploy-fuse-plugin undeploy-fuse-plugin \
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
	SOURCE_DATE_EPOCH=315532800 $(PY) -m kube_pmix.vcluster.wheelhouse $(WHEELHOUSE) --arch '$(IMAGE_ARCH)'
	chmod -R a+rX build

# The runtime images build our PRRTE from Debian's source package in a stage of
# their own: only the source is needed here, not a host build.
prrte-source:
	OPENMPI_SRC_VERSION='$(OPENMPI_SRC_VERSION)' SRC_RELEASE='$(OPENMPI_SRC_RELEASE)' \
	    bash scripts/build-prrte-k8sgo.sh '$(PRRTE_K8SGO_BUILD)' plm_k8sgo fetch

# The base is only made here for podman (docker pulls the public image), and only
# when it is the default one; any other IMAGE_BASE is pulled by the build as usual.
IMAGE_DEPS := wheelhouse prrte-source fuse-plugin \
              $(if $(filter podman%,$(IMAGE_BUILD_CMD)),$(if $(filter docker.io/library/debian:bookworm,$(IMAGE_BASE)),base-image))

images: $(IMAGE_DEPS)
	$(KUBE_PMIX) images build $(VC_IMG_ARGS) --base '$(IMAGE_BASE)' --build-cmd '$(IMAGE_BUILD_CMD)' --sizes build/images/sizes.md

push-images:
	$(KUBE_PMIX) images push $(VC_PUSH_ARGS)

$(addprefix image-,$(VC_IMAGES)): image-%: $(IMAGE_DEPS)
	$(KUBE_PMIX) images build $* $(VC_IMG_ARGS) --base '$(IMAGE_BASE)' --build-cmd '$(IMAGE_BUILD_CMD)' --sizes build/images/sizes.md

$(addprefix push-,$(VC_IMAGES)): push-%:
	$(KUBE_PMIX) images push $* $(VC_PUSH_ARGS)

$(addprefix deploy-,$(VC_VARIANTS)): deploy-%: venv
	$(KUBE_PMIX) deploy $* $(VC_DEPLOY_ARGS)

# COMMAND='...' runs it in the login shell instead of an interactive one (as the
# tests do): as typed, one word, `$$VAR` left for the pod's shell ($(value): make
# would expand `$$MPI_IMAGE` itself, to `PI_IMAGE`).
$(addprefix login-,$(VC_VARIANTS)): login-%: venv
	$(KUBE_PMIX) login $* --namespace '$(NAMESPACE)' $(if $(value COMMAND),-- '$(subst ','\'',$(value COMMAND))')

$(addprefix undeploy-,$(VC_VARIANTS)): undeploy-%: venv
	$(KUBE_PMIX) undeploy $* $(VC_DEPLOY_ARGS)

# Our fuse device plugin, once per cluster, for the -unpriv variants (manifests/fuse-plugin)
deploy-fuse-plugin: venv
	$(KUBE_PMIX) fuse-plugin deploy $(VC_IMG_ARGS)

undeploy-fuse-plugin: venv
	$(KUBE_PMIX) fuse-plugin undeploy $(VC_IMG_ARGS)

get-waitfor-log: venv
	$(KUBE_PMIX) waitfor-log --namespace '$(NAMESPACE)'

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON_BASE) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'

checkov-venv: $(CHECKOV_VENV)/bin/checkov

# kube-pmix: login shells (bash -l, ssh) reset PATH from /etc/profile; keep the
# MPI runtime and our tools on it, as the image's environment has them (the
# runtime images' PRRTE with plm/k8sgo first, where there is one).
case ":$PATH:" in
    *:/opt/hpc/local/kube-pmix/bin:*) ;;
    *) PATH="/opt/hpc/local/kube-pmix/bin:/opt/hpc/local/bin:$PATH" ;;
esac
if [ -d /opt/hpc/local/prrte/bin ]; then
    case ":$PATH:" in
        *:/opt/hpc/local/prrte/bin:*) ;;
        *) PATH="/opt/hpc/local/prrte/bin:$PATH" ;;
    esac
fi
export PATH

# kube-pmix: login shells (bash -l, ssh) reset PATH from /etc/profile; keep the
# MPI runtime and our tools on it, as the image's environment has them.
case ":$PATH:" in
    *:/opt/hpc/local/kube-pmix/bin:*) ;;
    *) PATH="/opt/hpc/local/kube-pmix/bin:/opt/hpc/local/bin:$PATH" ;;
esac
export PATH

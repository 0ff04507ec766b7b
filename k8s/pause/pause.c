/*
 * The sandbox ("pause") process of the real test bed's pods: it holds the pod's
 * namespaces and does nothing else. As pid 1 of a pod that shares its process
 * namespace it reaps orphans; it ends on SIGTERM or SIGINT (status 0), which is
 * how containerd stops a sandbox. Linked statically into an image with no other
 * file, so no public image is ever pulled for it (kube_pmix/k8s/oci.py).
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig) { (void)sig; stop = 1; }

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    sigset_t stops, waiting;

    if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        static const char version[] = "kube-pmix pause 1\n";
        return write(STDOUT_FILENO, version, sizeof version - 1) < 0;
    }
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    /* Blocked outside sigsuspend, so a stop between the test and the wait is not lost. */
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &waiting);
    while (!stop)
        sigsuspend(&waiting);
    return 0;
}

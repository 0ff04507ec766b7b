/*
 * sigfrom: say which process sent the SIGTERM that ends us. A shell trap
 * cannot tell, and podman's own relay delivers the same signal: the sender's
 * pid (si_pid) is what proves that wrap-container, not podman, handed it to
 * the rank. Prints "ready", waits for SIGTERM, prints "SIGTERM from PID",
 * exits 42.
 */
#include <signal.h>
#include <stdio.h>

int main(void)
{
    sigset_t set;
    siginfo_t info;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL); /* before "ready": none can be lost */
    printf("ready\n");
    fflush(stdout);
    if (sigwaitinfo(&set, &info) < 0) {
        perror("sigfrom: sigwaitinfo");
        return 1;
    }
    printf("SIGTERM from %d\n", (int)info.si_pid);
    return 42;
}

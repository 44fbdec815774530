/* The pod sandbox's process for the test node (tests/k8s/node.sh): holds the pod's namespaces, reaps
 * the zombies handed to it, exits on SIGINT/SIGTERM. The node has no registry to pull the usual
 * pause image from, so tests/node/pack-images.py builds this one. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static _Noreturn void on_term(int sig) {
        (void) sig;
        _exit(0);
}

static void on_child(int sig) {
        (void) sig;
        int saved = errno;
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        errno = saved;
}

int main(void) {
        struct sigaction term = {.sa_handler = on_term},
                         child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};

        if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
            sigaction(SIGCHLD, &child, NULL) < 0)
                return 1;
        for (;;)
                pause();
}

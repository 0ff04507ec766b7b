/*
 * init_finalize: the smallest MPI program that proves a job wired up.
 *
 * MPI_Init, rank/size, a Barrier, an optional Alltoall and MPI_Finalize,
 * timed on every rank; rank 0 prints the slowest rank's figures in the
 * layout users of the paper's virtual clusters know:
 *
 *    0) Size: 10 (Running)
 *    0) NP  :        10 procs [   5 Nodes at   2 PPN]
 *    0) Init:     0.015 sec
 *    ...
 *
 * Options:
 *   -a         also time an MPI_Alltoall of one int per peer
 *   -r         every rank prints "rank R/N host H mntns M": M, its mount
 *              namespace, tells which container (if any) the rank runs in
 *   -e CODE    the last rank exits with CODE right after MPI_Init (to show
 *              that one failing rank fails the whole job)
 *   -f CODE    the last rank exits with CODE after MPI_Finalize: the job ran
 *              clean, so only that exit status, passed up through whatever
 *              wraps the rank (a container), can tell the launcher
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* MPI_Wtime is undefined before MPI_Init, so every mark uses the monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each container has its own mount namespace: its inode names the container a rank runs in. */
static void mount_namespace(char *out, size_t len)
{
    ssize_t n = readlink("/proc/self/ns/mnt", out, len - 1);

    if (n < 0) {
        snprintf(out, len, "unknown");
        return;
    }
    out[n] = '\0';
}

int main(int argc, char **argv)
{
    int rank, size, local_size, is_leader, nodes = 0;
    int do_alltoall = 0, report = 0, exit_code = -1, final_code = 0, opt;
    double t_start, t_init, t_barrier, t_alltoall = 0.0, t_fin, t_end;
    double local[3], slowest[3];
    MPI_Comm node_comm;

    while (-1 != (opt = getopt(argc, argv, "are:f:"))) {
        switch (opt) {
        case 'a': do_alltoall = 1; break;
        case 'r': report = 1; break;
        case 'e': exit_code = atoi(optarg); break;
        case 'f': final_code = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-a] [-r] [-e CODE] [-f CODE]\n", argv[0]);
            return 2;
        }
    }

    t_start = now();
    MPI_Init(&argc, &argv);
    t_init = now();
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    if (exit_code >= 0 && rank == size - 1) {
        fprintf(stderr, "%3d) exiting with %d on purpose\n", rank, exit_code);
        exit(exit_code);
    }

    /* Nodes and processes per node: one shared-memory communicator per node. */
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node_comm);
    MPI_Comm_size(node_comm, &local_size);
    MPI_Comm_rank(node_comm, &is_leader);
    is_leader = (0 == is_leader);
    MPI_Allreduce(&is_leader, &nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Comm_free(&node_comm);

    if (report) {
        char host[256], mntns[64];
        gethostname(host, sizeof(host));
        host[sizeof(host) - 1] = '\0';
        mount_namespace(mntns, sizeof(mntns));
        printf("rank %d/%d host %s mntns %s\n", rank, size, host, mntns);
        fflush(stdout);
    }

    MPI_Barrier(MPI_COMM_WORLD);
    t_barrier = now();

    if (do_alltoall) {
        int *sendbuf = malloc(sizeof(int) * size), *recvbuf = malloc(sizeof(int) * size);
        double t0 = now();
        for (int i = 0; i < size; i++) {
            sendbuf[i] = rank * size + i;
        }
        MPI_Alltoall(sendbuf, 1, MPI_INT, recvbuf, 1, MPI_INT, MPI_COMM_WORLD);
        for (int i = 0; i < size; i++) {
            if (recvbuf[i] != i * size + rank) {
                fprintf(stderr, "%3d) Alltoall: wrong value from %d\n", rank, i);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }
        t_alltoall = now() - t0;
        free(sendbuf);
        free(recvbuf);
    }

    local[0] = t_init - t_start;
    local[1] = t_barrier - t_init;
    local[2] = t_alltoall;
    MPI_Reduce(local, slowest, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    t_fin = now();
    MPI_Finalize();
    t_end = now();

    if (0 == rank) {
        int ppn = (nodes > 0) ? size / nodes : size;
        printf("%3d) Size: %d (Running)\n", rank, size);
        printf("%3d) NP  : %9d procs [%4d Nodes at %3d PPN]\n", rank, size, nodes, ppn);
        printf("%3d) Init: %9.3f sec\n", rank, slowest[0]);
        printf("%3d) Barr: %9.3f sec\n", rank, slowest[1]);
        if (do_alltoall) {
            printf("%3d) A2A : %9.3f sec\n", rank, slowest[2]);
        }
        printf("%3d) Fin : %9.3f sec\n", rank, t_end - t_fin);
        printf("%3d) I+F : %9.3f sec\n", rank, slowest[0] + (t_end - t_fin));
        printf("%3d) Time: %9.3f sec\n", rank, t_end - t_start);
    }
    if (final_code != 0 && rank == size - 1) {
        fprintf(stderr, "%3d) exiting with %d after MPI_Finalize on purpose\n", rank, final_code);
        return final_code;
    }
    return 0;
}

/* Rendezvous-file search for a running DVM; see dvm_find.h. */
#include "dvm_find.h"
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* pid of a "pmix.<host>.tool.<pid>" file name, or 0 if not one. */
static pid_t tool_file_pid(const char *name)
{
    const char *dot = strrchr(name, '.');
    char *end;
    long v;

    if (strncmp(name, "pmix.", 5) != 0 || dot == NULL || dot - name < 10
        || strncmp(dot - 5, ".tool", 5) != 0) {
        return 0;
    }
    v = strtol(dot + 1, &end, 10);
    return (*end == '\0' && v > 0) ? (pid_t)v : 0;
}

static char *first_line(const char *path)
{
    char line[4096];
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        return NULL;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] != '\0' ? strdup(line) : NULL;
}

/* Scan one session dir; counts live DVMs into *found, keeps the first URI. */
static void scan_session(const char *dir, pid_t want, int *found, char **uri)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        pid_t pid = tool_file_pid(e->d_name);

        /* Stale files of a crashed prte stay behind: only count live ones. */
        if (pid == 0 || (want != 0 && pid != want) || kill(pid, 0) != 0) {
            continue;
        }
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path)) {
            continue;
        }
        char *line = first_line(path);
        if (line == NULL) {
            continue;
        }
        (*found)++;
        if (*uri == NULL) {
            *uri = line;
        } else {
            free(line);
        }
    }
    closedir(d);
}

char *pt_env_uri(void)
{
    static const char *const names[] = {
        "PMIX_SERVER_URI41", "PMIX_SERVER_URI4", "PMIX_SERVER_URI3",
        "PMIX_SERVER_URI21", "PMIX_SERVER_URI2", "PMIX_SERVER_URI",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *value = getenv(names[i]);
        if (value != NULL && value[0] != '\0') {
            return strdup(value);
        }
    }
    return NULL;
}

char *pt_dvm_find(pid_t pid)
{
    const char *tmp = getenv("TMPDIR");
    char *uri = NULL;
    int found = 0;
    struct dirent *e;
    struct stat st;
    char path[4096];
    DIR *d;

    if (tmp == NULL || tmp[0] == '\0') {
        tmp = "/tmp";
    }
    d = opendir(tmp);
    if (d == NULL) {
        pt_err("cannot read %s to find a DVM: %s", tmp, strerror(errno));
        return NULL;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "prte.", 5) != 0) {
            continue;
        }
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name) >= sizeof(path)) {
            continue;
        }
        /* Another user's DVM would refuse us anyway; skip it early. */
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
            continue;
        }
        scan_session(path, pid, &found, &uri);
    }
    closedir(d);
    if (found == 0) {
        if (pid != 0) {
            pt_err("no DVM with pid %ld found in %s; is prte running?", (long)pid, tmp);
        } else {
            pt_err("no DVM found in %s; start one with 'prte --daemonize'", tmp);
        }
        return NULL;
    }
    if (found > 1) {
        free(uri);
        pt_err("%d DVMs found in %s; choose one with --dvm-uri or --pid", found, tmp);
        return NULL;
    }
    return uri;
}

/* Fails fsync(2) and fdatasync(2) with EIO while the file named by RINGBANK_TEST_FAIL_FSYNC
 * exists; passes them through otherwise. Loaded with LD_PRELOAD under one bank process by
 * tests/it/storage_faults.rs (a disk whose flushes fail, without device-mapper). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*flush_fn)(int);

/* The flush `name` on `fd`, unless the flag file exists: then EIO. `real` caches libc's. */
static int flush(const char *name, flush_fn *real, int fd) {
    const char *flag = getenv("RINGBANK_TEST_FAIL_FSYNC");
    if (flag != NULL && access(flag, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    if (*real == NULL) *real = (flush_fn)dlsym(RTLD_NEXT, name);
    return (*real)(fd);
}

int fsync(int fd) {
    static flush_fn real = NULL;
    return flush("fsync", &real, fd);
}

int fdatasync(int fd) {
    static flush_fn real = NULL;
    return flush("fdatasync", &real, fd);
}

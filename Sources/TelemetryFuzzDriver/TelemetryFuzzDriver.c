#include "TelemetryFuzzDriver.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void replay_file(const char *path, telemetry_fuzz_callback callback, int *count) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t capacity = 1 << 16;
    size_t size = 0;
    uint8_t *data = malloc(capacity);
    for (;;) {
        if (data == NULL) {
            fprintf(stderr, "replay: out of memory reading %s\n", path);
            exit(1);
        }
        size += fread(data + size, 1, capacity - size, file);
        if (size < capacity) break;
        capacity *= 2;
        data = realloc(data, capacity);
    }
    if (ferror(file)) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fclose(file);
    // An exact-size copy, so AddressSanitizer (when on) catches a read past the input.
    uint8_t *exact = malloc(size == 0 ? 1 : size);
    if (size > 0) memcpy(exact, data, size);
    free(data);
    callback(exact, size);
    free(exact);
    *count += 1;
}

static void replay_path(const char *path, telemetry_fuzz_callback callback, int *count) {
    struct stat info;
    if (stat(path, &info) != 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (!S_ISDIR(info.st_mode)) {
        replay_file(path, callback, count);
        return;
    }
    DIR *directory = opendir(path);
    if (directory == NULL) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        size_t length = strlen(path) + strlen(entry->d_name) + 2;
        char *child = malloc(length);
        snprintf(child, length, "%s/%s", path, entry->d_name);
        struct stat child_info;
        if (stat(child, &child_info) == 0 && S_ISREG(child_info.st_mode)) {
            replay_file(child, callback, count);
        }
        free(child);
    }
    closedir(directory);
}

int telemetry_fuzz_replay(int argc, char **argv, telemetry_fuzz_callback callback) {
    int count = 0;
    for (int i = 1; i < argc; i++) {
        replay_path(argv[i], callback, &count);
    }
    fprintf(stderr, "replay: %d inputs ran without a crash\n", count);
    return 0;
}

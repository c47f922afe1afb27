#!/usr/bin/env python3
"""A FUSE file system that never answers, for the fault tests and bench/mount_stall.py: what
a hung NFS server or a user's own malicious FUSE server does to whoever opens a path in it.

  hanging_fuse.py MOUNTPOINT [--answer-init]      (as root; prints "ready" once mounted)

Without --answer-init it never answers the kernel's INIT: every request waits for it, and
SIGKILL still ends the process that asked (a killable wait). With --answer-init it answers
INIT, then reads every request and answers none: a process that asked waits uninterruptibly,
and even SIGKILL waits, until this server exits (the kernel then fails every request with
ENOTCONN). It serves until SIGTERM or SIGINT, then exits; the mount stays (every access
fails with ENOTCONN) until the caller unmounts it: `umount -l MOUNTPOINT`.

Speaks just enough of the FUSE protocol (linux/fuse.h, 7.31) for that; no dependencies.
"""
import ctypes
import os
import select
import signal
import struct
import sys

FUSE_INIT = 26
IN_HEADER = struct.Struct("<IIQQIIIHH")  # len, opcode, unique, nodeid, uid, gid, pid, total_extlen, padding
OUT_HEADER = struct.Struct("<IiQ")  # len, error, unique
# major, minor, max_readahead, flags, max_background, congestion_threshold, max_write,
# time_gran, max_pages, map_alignment, flags2, unused[7]
INIT_OUT = struct.Struct("<IIIIHHIIHHI7I")
MS_NOSUID, MS_NODEV = 2, 4


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    mountpoint = sys.argv[1]
    answer_init = "--answer-init" in sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    # allow_other: the user's child that opens it is not the uid that mounted it.
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    if libc.mount(b"jobman-hanging-fuse", mountpoint.encode(), b"fuse", MS_NOSUID | MS_NODEV, options) != 0:
        sys.exit(f"hanging_fuse: mount on {mountpoint}: {os.strerror(ctypes.get_errno())}")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    requests = 0
    while not stop:
        try:
            readable, _, _ = select.select([fd], [], [], 0.1)
        except InterruptedError:
            continue
        if not readable:
            continue
        if not answer_init:
            continue  # leave INIT unread: every request waits for it
        try:
            request = os.read(fd, 1 << 20)
        except OSError:
            break
        length, opcode, unique = IN_HEADER.unpack_from(request)[:3]
        requests += 1
        if opcode == FUSE_INIT:
            body = INIT_OUT.pack(7, 31, 0, 0, 1, 1, 4096, 1, 1, 0, 0, *([0] * 7))
            os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), 0, unique) + body)
        # anything else: read (so the kernel counts it as sent) and never answered
    os.close(fd)


if __name__ == "__main__":
    main()

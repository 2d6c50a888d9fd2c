"""The image store's disk usage as ImageFsInfo reports it, computed here by an
independent walk: layers/ and images/ under the store (staging/ and trash/ are
not counted), every inode once (hard links once, the two top directories
included), bytes as st_blocks * 512 (what `du -B1` sums)."""
import os
import time


def store_usage(store):
    seen, nbytes = set(), 0

    def visit(path):
        nonlocal nbytes
        st = os.lstat(path)
        key = (st.st_dev, st.st_ino)
        if key not in seen:
            seen.add(key)
            nbytes += st.st_blocks * 512
        if os.path.isdir(path) and not os.path.islink(path):
            for e in os.scandir(path):
                visit(e.path)

    for top in ("layers", "images"):
        visit(os.path.join(store, top))
    return nbytes, len(seen)


def wait_store_usage(fs_info, store, timeout=20.0):
    """Polls fs_info() (-> FilesystemUsage) until it equals the walk; returns both last readings."""
    deadline = time.monotonic() + timeout
    while True:
        fs = fs_info()
        got = (fs.used_bytes.value, fs.inodes_used.value)
        want = store_usage(store)
        if got == want or time.monotonic() > deadline:
            return got, want
        time.sleep(0.2)

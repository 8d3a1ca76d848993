"""Where distributions live: directories on disk, the snapshot cache, the watcher."""

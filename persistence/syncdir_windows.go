package persistence

// syncDir: Windows cannot sync a directory handle; NTFS journals file creation itself.
func syncDir(string) error { return nil }

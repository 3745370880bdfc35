package pgtest

// Hooks for the external tests in this directory.

func ClusterDir(c *Cluster) string { return c.dir }

func ServerPID(c *Cluster) int { return c.srv.proc.Pid }

func RemoveStale(base string) { removeStale(base) }

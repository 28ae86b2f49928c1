"""GitOps: the project file, the lock, plans and CI reports."""

"""HTTP plumbing shared by every domain router: errors, auth, pagination, body caps."""

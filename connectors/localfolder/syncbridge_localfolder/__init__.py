"""The localfolder connector for syncbridge (work in progress)."""

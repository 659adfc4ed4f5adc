"""The cloudinary connector for syncbridge (work in progress)."""

"""The bynder connector for syncbridge (work in progress)."""

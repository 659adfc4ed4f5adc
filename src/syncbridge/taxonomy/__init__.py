"""The shared taxonomy: SKOS-shaped schemes and concepts, import and export."""

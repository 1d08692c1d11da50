"""Remote chart sources: version constraints, fetching once per install, the digest cache (README "Chart sources")."""

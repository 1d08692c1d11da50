"""The Helm runner (pyhelm3 + the real ``helm`` binary), rendered-manifest checks and endpoint discovery."""

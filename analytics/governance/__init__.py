"""The process audit (findings per release), monthly process health and risk attribution."""

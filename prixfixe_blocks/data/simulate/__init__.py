"""The simulator (``data simulate``): DREAM-like sequences, yeast motifs, the known expression
function and the simulated test suite."""

"""One pass over generated and real samples to every requested metric."""

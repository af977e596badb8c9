"""Private: the Mitra bundle format (spec/mitra.md), the one home of its vocabulary."""

"""wlearn: the .wlrn model-bundle format and its loader registry."""

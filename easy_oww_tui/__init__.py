"""easy-oww front ends: the Textual app and the `easy-oww` command line."""

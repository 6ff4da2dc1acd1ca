"""What lstmcast writes for people and programs beside run directories: state dumps in four formats (dumpfiles,
read back by dumpread), forecast and report files (tables), and PNG plots (plots). Each format knows how to
recognise its own files, so --force replaces nothing else."""

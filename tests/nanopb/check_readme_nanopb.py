"""The README's nanopb example is tests/nanopb/readme_nanopb.c, to the letter: the program
the suite builds and runs is the one users read."""
import sys

readme, program = sys.argv[1], sys.argv[2]
text = open(readme).read()
start = text.index("### nanopb example")
block = text.index("```c\n", start) + len("```c\n")
shown = text[block:text.index("```", block)]
if shown != open(program).read():
    sys.exit("README.md's nanopb example differs from %s" % program)
print("README nanopb example matches", program)

"""The README's embedding example is tests/embed/embed_grpc.c, to the letter."""
import sys

readme, program = sys.argv[1], sys.argv[2]
text = open(readme).read()
start = text.index("### Asynchronous calls and embedding in a gRPC service")
block = text.index("```c\n", start) + len("```c\n")
shown = text[block:text.index("```", block)]
if shown != open(program).read():
    sys.exit("README.md's embedding example differs from %s" % program)
print("README embedding example matches", program)

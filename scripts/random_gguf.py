"""A chat model of the same architecture and size as a real one, with random weights, for
measuring speed where the real file cannot travel (speed does not depend on the weights'
values). Two steps, with the `gguf` package:

  random_gguf.py header MODEL.gguf HEADER.gguf
      the model's metadata (architecture, vocabulary, chat template) and, in one more key,
      its tensors' names and shapes: a few MB
  random_gguf.py fill HEADER.gguf OUT.gguf [--seed N]
      the same model with random weights: every matrix in Q8_0 (scales that give weights of
      about the usual spread), norms at one, biases small
"""

import argparse
import json
import sys

import numpy as np
import gguf

SHAPES_KEY = "quire.random_gguf.tensors"
QK8_0 = 32
# Standard deviation of a random weight; int8 quants uniform in [-127, 127] spread about 73.
WEIGHT_STD = 0.02


def copy_metadata(reader: gguf.GGUFReader, writer: gguf.GGUFWriter, skip=()):
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture" or field.name in skip:
            continue
        value_type = field.types[0]
        sub_type = field.types[1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type)


def architecture(reader: gguf.GGUFReader) -> str:
    return reader.fields["general.architecture"].contents()


def header(model: str, out: str):
    reader = gguf.GGUFReader(model)
    writer = gguf.GGUFWriter(out, architecture(reader))
    copy_metadata(reader, writer)
    shapes = [
        {"name": t.name, "shape": [int(n) for n in t.shape], "type": t.tensor_type.name}
        for t in reader.tensors
    ]
    writer.add_string(SHAPES_KEY, json.dumps(shapes))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"{out}: {len(shapes)} tensors described", file=sys.stderr)


def q8_0_blocks(rng: np.random.Generator, values: int) -> np.ndarray:
    """`values` random weights as Q8_0 blocks: a float16 scale, then 32 int8 quants."""
    blocks = values // QK8_0
    data = np.empty((blocks, 2 + QK8_0), dtype=np.uint8)
    scale = np.float16(WEIGHT_STD / 73.0)
    data[:, 0:2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
    data[:, 2:] = rng.integers(-127, 128, size=(blocks, QK8_0), dtype=np.int8).view(np.uint8)
    return data


def fill(header_path: str, out: str, seed: int):
    reader = gguf.GGUFReader(header_path)
    shapes = json.loads(reader.fields[SHAPES_KEY].contents())
    writer = gguf.GGUFWriter(out, architecture(reader))
    copy_metadata(reader, writer, skip=(SHAPES_KEY, "general.file_type"))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    rng = np.random.default_rng(seed)
    for tensor in shapes:
        # GGUF lists dimensions innermost first; numpy wants them outermost first.
        shape = list(reversed(tensor["shape"]))
        values = int(np.prod(shape))
        if len(shape) >= 2 and shape[-1] % QK8_0 == 0:
            blocks = q8_0_blocks(rng, values).reshape(*shape[:-1], -1)
            writer.add_tensor(tensor["name"], blocks, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        elif tensor["name"].endswith("norm.weight"):
            writer.add_tensor(tensor["name"], np.ones(shape, dtype=np.float32))
        else:
            writer.add_tensor(tensor["name"], (rng.standard_normal(shape) * WEIGHT_STD).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"{out}: {len(shapes)} random tensors", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    h = steps.add_parser("header")
    h.add_argument("model")
    h.add_argument("out")
    f = steps.add_parser("fill")
    f.add_argument("header")
    f.add_argument("out")
    f.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.step == "header":
        header(args.model, args.out)
    else:
        fill(args.header, args.out, args.seed)


if __name__ == "__main__":
    main()

// Collects the nodes and float32 initializers of an ONNX graph in order, with the names wiring them together.
// Each node's output is a value named after the node, so a graph reads like the module tree it came from.
import { onnx, type OnnxTypes } from './proto.js';

/** An attribute of a node: the ONNX operators' integer lists (kernel_shape, pads, ...), integers and floats. */
export type Attribute = { name: string; ints: readonly number[] } | { name: string; int: number } | { name: string; float: number };

export interface TensorValue {
  name: string;
  /** Sizes; a string is a symbolic size (dim_param), e.g. 'batch'. */
  shape: ReadonlyArray<number | string>;
}

function attributeProto(attribute: Attribute): OnnxTypes.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if ('ints' in attribute) return { name: attribute.name, type: AttributeType.INTS, ints: [...attribute.ints] };
  if ('int' in attribute) return { name: attribute.name, type: AttributeType.INT, i: attribute.int };
  return { name: attribute.name, type: AttributeType.FLOAT, f: attribute.float };
}

function valueInfo(value: TensorValue): OnnxTypes.IValueInfoProto {
  return {
    name: value.name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: value.shape.map((size) => (typeof size === 'string' ? { dimParam: size } : { dimValue: size })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly inputs: TensorValue[] = [];
  private readonly names = new Set<string>();
  /** Bytes of initializer data so far (what dominates the file's size). */
  weightBytes = 0;

  /** Declares a float32 input of the graph and returns its name. */
  input(value: TensorValue): string {
    this.claim(value.name);
    this.inputs.push(value);
    return value.name;
  }

  /** Adds a float32 constant (a weight) and returns its name. */
  initializer(name: string, dims: readonly number[], values: Float32Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (values.length !== count) throw new RangeError(`${name}: expected ${count} values for shape [${dims.join(', ')}], received ${values.length}`);
    this.claim(name);
    // raw_data is little-endian float32, the layout of a Float32Array on every platform Node runs on.
    const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.initializers.push({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData });
    this.weightBytes += values.byteLength;
    return name;
  }

  /** Adds a node of the default ONNX domain and returns the name of its one output (`output`, or the node's name). */
  node(opType: string, name: string, inputs: readonly string[], attributes: readonly Attribute[] = [], output = name): string {
    this.claim(output);
    this.nodes.push({ name, opType, input: [...inputs], output: [output], attribute: attributes.map(attributeProto) });
    return output;
  }

  /** The graph, its outputs being values that nodes produce. */
  graph(name: string, outputs: readonly TensorValue[]): OnnxTypes.IGraphProto {
    for (const output of outputs) if (!this.names.has(output.name)) throw new Error(`onnx graph: no node produces the output '${output.name}'`);
    return { name, node: this.nodes, initializer: this.initializers, input: this.inputs.map(valueInfo), output: outputs.map(valueInfo) };
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  // Every value (input, initializer, node output) needs a name of its own: a clash would silently rewire the graph.
  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`onnx graph: the value name '${name}' is used twice`);
    this.names.add(name);
  }
}

package onnx

// TopoSort returns the nodes ordered so that every node comes after the
// producers of its inputs, keeping file order wherever the file is already
// valid. It fails, naming the node, on a cycle or on an input that no node,
// graph input or initializer defines. Values captured implicitly by subgraph
// attributes (If, Loop, Scan bodies) are not seen; those ops are not lowered.
func (g *Graph) TopoSort() ([]*Node, error) {
	producer := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		for _, out := range n.Outputs {
			if out != "" {
				producer[out] = i
			}
		}
	}
	available := make(map[string]bool, len(g.Inputs)+len(g.Initializers))
	for _, in := range g.Inputs {
		available[in.Name] = true
	}
	for name := range g.Initializers {
		available[name] = true
	}

	const (
		unvisited = iota
		visiting  // on the DFS stack: meeting it again closes a cycle
		done
	)
	state := make([]int, len(g.Nodes))
	order := make([]*Node, 0, len(g.Nodes))
	// An explicit stack, so a million-node chain cannot overflow the
	// goroutine stack; next is the index of the next input to look at.
	type frame struct{ node, next int }
	var stack []frame
	for root := range g.Nodes {
		if state[root] != unvisited {
			continue
		}
		state[root] = visiting
		stack = append(stack[:0], frame{node: root})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			n := g.Nodes[top.node]
			if top.next == len(n.Inputs) {
				state[top.node] = done
				order = append(order, n)
				stack = stack[:len(stack)-1]
				continue
			}
			in := n.Inputs[top.next]
			top.next++
			if in == "" || available[in] {
				continue
			}
			p, ok := producer[in]
			if !ok {
				return nil, errorf(ErrMalformed, "node %s: input %q is not produced by any node, graph input or initializer", n.Label(), in)
			}
			switch state[p] {
			case visiting:
				return nil, errorf(ErrMalformed, "node %s: input %q comes from node %s, which depends on this node's output (a cycle)", n.Label(), in, g.Nodes[p].Label())
			case unvisited:
				state[p] = visiting
				stack = append(stack, frame{node: p})
			}
		}
	}
	return order, nil
}

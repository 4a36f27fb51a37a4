/** What the gateway has seen of each subgraph lately, for `/ready`. */
export interface SubgraphHealth {
  lastSuccessAt?: string | undefined;
  lastFailureAt?: string | undefined;
  lastFailure?: string | undefined;
}

export class SubgraphHealthBook {
  private readonly bySubgraph = new Map<string, SubgraphHealth>();

  recordSuccess(subgraph: string): void {
    this.entry(subgraph).lastSuccessAt = new Date().toISOString();
  }

  recordFailure(subgraph: string, reason: string): void {
    const entry = this.entry(subgraph);
    entry.lastFailureAt = new Date().toISOString();
    entry.lastFailure = reason;
  }

  get(subgraph: string): SubgraphHealth {
    return { ...this.bySubgraph.get(subgraph) };
  }

  private entry(subgraph: string): SubgraphHealth {
    let entry = this.bySubgraph.get(subgraph);
    if (!entry) {
      entry = {};
      this.bySubgraph.set(subgraph, entry);
    }
    return entry;
  }
}

/** What the gateway has seen of each subgraph lately, for `/ready`. */
export interface SubgraphHealth {
  lastSuccessAt?: string | undefined;
  lastFailureAt?: string | undefined;
  lastFailure?: string | undefined;
}

/** Epoch ms as recorded: every subgraph call records one, `/ready` formats the few it shows. */
interface Recorded {
  lastSuccessAt?: number;
  lastFailureAt?: number;
  lastFailure?: string;
}

export class SubgraphHealthBook {
  private readonly bySubgraph = new Map<string, Recorded>();

  recordSuccess(subgraph: string): void {
    this.entry(subgraph).lastSuccessAt = Date.now();
  }

  recordFailure(subgraph: string, reason: string): void {
    const entry = this.entry(subgraph);
    entry.lastFailureAt = Date.now();
    entry.lastFailure = reason;
  }

  get(subgraph: string): SubgraphHealth {
    const { lastSuccessAt, lastFailureAt, lastFailure } = this.bySubgraph.get(subgraph) ?? {};
    return {
      ...(lastSuccessAt !== undefined && { lastSuccessAt: new Date(lastSuccessAt).toISOString() }),
      ...(lastFailureAt !== undefined && { lastFailureAt: new Date(lastFailureAt).toISOString() }),
      ...(lastFailure !== undefined && { lastFailure }),
    };
  }

  private entry(subgraph: string): Recorded {
    let entry = this.bySubgraph.get(subgraph);
    if (!entry) {
      entry = {};
      this.bySubgraph.set(subgraph, entry);
    }
    return entry;
  }
}

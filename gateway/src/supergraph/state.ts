import type { LoadedSupergraph } from './file-source.js';
import { listSubgraphs, type SubgraphRef } from './subgraph-list.js';

/** The supergraph the gateway serves now, and the subgraphs it declares; empty until the first load. */
export class SupergraphState {
  private current: LoadedSupergraph | undefined;
  private declared: SubgraphRef[] = [];

  get loaded(): LoadedSupergraph | undefined {
    return this.current;
  }

  /** Listed once per load, not per probe: `/health` and `/ready` are polled, and a supergraph can be large. */
  get subgraphs(): readonly SubgraphRef[] {
    return this.declared;
  }

  update(loaded: LoadedSupergraph): void {
    this.current = loaded;
    this.declared = listSubgraphs(loaded.sdl);
  }
}

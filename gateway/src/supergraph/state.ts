import type { LoadedSupergraph, ReloadOutcome } from './file-source.js';
import { listSubgraphs, type SubgraphRef } from './subgraph-list.js';

/** The supergraph the gateway serves now, and the subgraphs it declares; empty until the first load. */
export class SupergraphState {
  private current: LoadedSupergraph | undefined;
  private declared: SubgraphRef[] = [];
  private reloader: (() => ReloadOutcome) | undefined;

  get loaded(): LoadedSupergraph | undefined {
    return this.current;
  }

  /** Listed once per load, not per probe: `/health` and `/ready` are polled, and a supergraph can be large. */
  get subgraphs(): readonly SubgraphRef[] {
    return this.declared;
  }

  /** The source hands over how to reload it now (once it has loaded). */
  setReloader(reload: () => ReloadOutcome): void {
    this.reloader = reload;
  }

  /** Reloads the supergraph from its source now; undefined before the first load. */
  reload(): ReloadOutcome | undefined {
    return this.reloader?.();
  }

  update(loaded: LoadedSupergraph): void {
    this.current = loaded;
    this.declared = listSubgraphs(loaded.sdl);
  }
}

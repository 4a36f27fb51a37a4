import type { LoadedSupergraph, ReloadOutcome } from './file-source.js';
import type { SourceStatus } from './source-status.js';
import { listSubgraphs, type SubgraphRef } from './subgraph-list.js';

/** The supergraph the gateway serves now, and the subgraphs it declares; empty until the first load. */
export class SupergraphState {
  private current: LoadedSupergraph | undefined;
  private declared: SubgraphRef[] = [];
  private reloader: (() => ReloadOutcome | Promise<ReloadOutcome>) | undefined;
  private sourceStatus: SourceStatus | undefined;

  get loaded(): LoadedSupergraph | undefined {
    return this.current;
  }

  /** Listed once per load, not per probe: `/health` and `/ready` are polled, and a supergraph can be large. */
  get subgraphs(): readonly SubgraphRef[] {
    return this.declared;
  }

  /** Where the supergraph comes from and how its last fetches went (kept up to date by the source). */
  get source(): Readonly<SourceStatus> | undefined {
    return this.sourceStatus;
  }

  setSource(status: SourceStatus): void {
    this.sourceStatus = status;
  }

  /** The source hands over how to reload it now (once it has loaded). */
  setReloader(reload: () => ReloadOutcome | Promise<ReloadOutcome>): void {
    this.reloader = reload;
  }

  /** Reloads the supergraph from its source now (a remote source fetches); undefined before the first load. */
  reload(): ReloadOutcome | Promise<ReloadOutcome> | undefined {
    return this.reloader?.();
  }

  update(loaded: LoadedSupergraph): void {
    this.current = loaded;
    this.declared = listSubgraphs(loaded.sdl);
  }
}

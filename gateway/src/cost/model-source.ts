import { existsSync, unwatchFile, watchFile } from 'node:fs';
import { parse, type GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import { CostEstimateCache } from './cache.js';
import { costModelFromSdl, type CostModel } from './model.js';
import { applyCostOverrides, readCostOverrides, type CostOverrides } from './overrides.js';

/** The cost model of one API schema and the estimate cache that goes with it. */
export interface CostAnalyzer {
  schema: GraphQLSchema;
  model: CostModel;
  cache: CostEstimateCache;
}

export interface CostModelSourceOptions {
  /** `schema/costs.yaml`; a missing file means no overrides. */
  overridesPath: string;
  watch: boolean;
  pollIntervalMs: number;
  cacheSize: number;
  logger: Logger;
}

/**
 * Keeps the cost model of the schema being served: the supergraph's `@cost`/`@listSize` with the
 * overrides file on top, rebuilt on every supergraph load and whenever the overrides file changes
 * (polled, like the supergraph). Each rebuild comes with a fresh estimate cache. An invalid
 * overrides file is refused at start-up (`readInitialOverrides`) and, on a reload, logged while
 * the previous model keeps serving.
 */
export class CostModelSource {
  private overrides: CostOverrides | undefined;
  private readonly analyzers = new WeakMap<GraphQLSchema, CostAnalyzer>();
  private latest: { schema: GraphQLSchema; baseModel: CostModel } | undefined;
  private watching = false;

  constructor(private readonly options: CostModelSourceOptions) {
    this.overrides = readOverridesFile(options.overridesPath);
  }

  /** The analyzer of a schema this source has loaded, if any. */
  analyzer(schema: GraphQLSchema): CostAnalyzer | undefined {
    return this.analyzers.get(schema);
  }

  /** Builds the model of a newly loaded schema (first load and every supergraph reload). */
  load(schema: GraphQLSchema, coreSupergraphSdl: string): void {
    const baseModel = costModelFromSdl(parse(coreSupergraphSdl));
    this.latest = { schema, baseModel };
    let model = baseModel;
    if (this.overrides) {
      try {
        model = applyCostOverrides(baseModel, this.overrides, schema);
      } catch (error) {
        this.options.logger.error(
          { path: this.options.overridesPath, err: (error as Error).message },
          'cost overrides do not fit the new supergraph; costing by its directives alone',
        );
      }
    }
    this.analyzers.set(schema, this.analyzerOf(schema, model));
    this.startWatching();
  }

  close(): void {
    if (this.watching) unwatchFile(this.options.overridesPath, this.onChange);
    this.watching = false;
  }

  private analyzerOf(schema: GraphQLSchema, model: CostModel): CostAnalyzer {
    return { schema, model, cache: new CostEstimateCache(schema, model, this.options.cacheSize) };
  }

  private startWatching(): void {
    if (this.watching || !this.options.watch) return;
    this.watching = true;
    watchFile(this.options.overridesPath, { interval: this.options.pollIntervalMs, persistent: false }, this.onChange);
  }

  private readonly onChange = (): void => {
    const latest = this.latest;
    if (!latest) return;
    try {
      const overrides = readOverridesFile(this.options.overridesPath);
      const model = overrides ? applyCostOverrides(latest.baseModel, overrides, latest.schema) : latest.baseModel;
      this.overrides = overrides;
      this.analyzers.set(latest.schema, this.analyzerOf(latest.schema, model));
      this.options.logger.info({ path: this.options.overridesPath, present: overrides !== undefined }, 'cost overrides reloaded');
    } catch (error) {
      this.options.logger.error(
        { path: this.options.overridesPath, err: (error as Error).message },
        'cost overrides reload failed; the previous cost model keeps serving',
      );
    }
  };
}

function readOverridesFile(path: string): CostOverrides | undefined {
  return existsSync(path) ? readCostOverrides(path) : undefined;
}

// A small typed client over the generated types: fetch for queries and mutations,
// graphql-ws for the job subscription. `tsc --noEmit` checks it against whatever
// `schema.graphql` and the operations generate, so a breaking schema change fails here.
import { readFileSync } from "node:fs";
import { createClient, type Client } from "graphql-ws";
import type {
  CollectRacesInput,
  CollectRacesMutation,
  CollectRacesMutationVariables,
  JobFieldsFragment,
  JobProgressSubscription,
  JobProgressSubscriptionVariables,
  RacesPageQuery,
  RacesPageQueryVariables,
} from "./generated/operations.js";
import type { JobStatus } from "./generated/schema.js";

const operations = ["job", "collect", "races"]
  .map((name) => readFileSync(new URL(`../../operations/${name}.graphql`, import.meta.url), "utf8"))
  .join("\n");

const TERMINAL: ReadonlySet<JobStatus> = new Set<JobStatus>(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"]);

interface GraphQLResponse<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

export class KraClient {
  private readonly ws: Client;

  constructor(
    private readonly url: string,
    private readonly key?: string,
  ) {
    this.ws = createClient({
      url: url.replace(/^http/, "ws"),
      connectionParams: key ? { apiKey: key } : {},
    });
  }

  private async request<T, V>(operationName: string, variables: V): Promise<T> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (this.key) headers["Authorization"] = `Bearer ${this.key}`;
    const response = await fetch(this.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: operations, operationName, variables }),
    });
    const body = (await response.json()) as GraphQLResponse<T>;
    const error = body.errors?.[0];
    if (error) throw new Error(`${error.extensions?.code ?? "ERROR"}: ${error.message}`);
    if (!body.data) throw new Error(`HTTP ${response.status} without data`);
    return body.data;
  }

  async racesPage(variables: RacesPageQueryVariables): Promise<RacesPageQuery["races"]> {
    const data = await this.request<RacesPageQuery, RacesPageQueryVariables>("RacesPage", variables);
    return data.races;
  }

  async collect(input: CollectRacesInput): Promise<JobFieldsFragment> {
    const data = await this.request<CollectRacesMutation, CollectRacesMutationVariables>("CollectRaces", { input });
    return data.collectRaces;
  }

  /** Calls `onProgress` for every change and resolves with the job's final state. */
  follow(id: string, onProgress: (job: JobFieldsFragment) => void): Promise<JobFieldsFragment> {
    const variables: JobProgressSubscriptionVariables = { id };
    return new Promise((resolve, reject) => {
      let last: JobFieldsFragment | undefined;
      this.ws.subscribe<JobProgressSubscription>(
        { query: operations, operationName: "JobProgress", variables },
        {
          next: ({ data, errors }) => {
            if (errors?.length) return reject(new Error(errors[0]?.message));
            if (!data) return;
            last = data.jobProgress.job;
            onProgress(last);
          },
          error: reject,
          complete: () => (last && TERMINAL.has(last.status) ? resolve(last) : reject(new Error("ended early"))),
        },
      );
    });
  }

  dispose(): Promise<void> {
    return Promise.resolve(this.ws.dispose());
  }
}

/** A race card screen: runners by gate, with the jockey and the winning odds. */
export function raceCard(race: RacesPageQuery["races"]["edges"][number]["node"]): string[] {
  return race.entries.map((entry) => {
    const jockey = entry.jockey?.name ?? "-";
    const odds = entry.winOdds === null ? "" : ` ${entry.winOdds.toFixed(1)}`;
    const finish = entry.finishPosition === null ? "" : ` → ${entry.finishPosition}`;
    return `${entry.gateNumber}. ${entry.horseName} (${jockey})${odds}${finish}`;
  });
}

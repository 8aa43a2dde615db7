/**
 * Seeded engagement traffic (engagement-analytics): a catalog of `contents` titles (content-<j>,
 * each with a title, one of GENRES and a running time) and views by `users` users (user-<k>), user
 * k on partition k mod partitions so a user's views are in order within one partition. Every
 * viewed contentId is in the catalog, so enrichment finds its match.
 *
 * Per partition, event time advances 1–2000 ms per view. Users come and go: user k is active for
 * 80 minutes of every 3 hours (phase per user), so viewing sessions end with gaps longer than 30
 * minutes. A user prefers two genres (70 % of views). Watch times: 35 % complete (≥ 90 % of the
 * running time), 30 % short (30–300 s, not session views), the rest partial. A few views are
 * invalid (empty ids, NaN watch time, zero duration) or late (10 minutes behind their partition).
 *
 * Interactions (`interactionShare` of the records, 0 by default: views only, the same views as
 * before for a seed): {userId, contentId, action, rating?, ts} by the same users, with the same
 * partitioning, clock and genre preferences as the views, interleaved with them in each partition.
 * Actions: like 40 %, rate 30 %, add_to_list 20 %, share 10 %; a rating is 3–5 for a preferred
 * genre, 1–5 otherwise. Invalid ones (`invalidShare`): empty userId or contentId, an unknown action
 * ("dislike"), a rating out of range; late ones (`lateShare`): 40 minutes behind their partition.
 * `riptide run engagement-analytics` and `loadgen --kind engagement` with an interactions topic use
 * ENGAGEMENT_INTERACTION_SHARE.
 *
 * Ids are generated, not interned: user k has id k + 1, content j id j + 1, action a id a (1 like,
 * 2 share, 3 add_to_list, 4 rate, 5 the invalid "dislike"); 0 = empty string.
 */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import { ACTIONS, KIND_INTERACTION, interactionEventFromFields, viewEventFromFields, type ViewInputColumns } from "../pipelines/engagement/spec.js";
import type { Source } from "./source.js";

export const GENRES: readonly string[] = [
  "Drama", "Comedy", "Thriller", "Documentary", "Animation", "Sci-Fi", "Romance", "Horror", "Crime", "Fantasy", "Reality", "Kids",
];
const WORDS_A = ["Silent", "Golden", "Broken", "Hidden", "Last", "Midnight", "Wild", "Crimson", "Frozen", "Lost", "Bright", "Iron"];
const WORDS_B = ["River", "Empire", "Garden", "Signal", "Horizon", "Kingdom", "Harbor", "Orbit", "Forest", "Machine", "Voyage", "Crown"];

const CYCLE_MS = 3 * 3_600_000;
const ACTIVE_MS = 80 * 60_000;

export interface EngagementGeneratorOptions {
  seed: number;
  users: number;
  contents: number;
  partitions: number;
  /** Share of invalid views. */
  invalidShare: number;
  /** Share of late views. */
  lateShare: number;
  /** Event time of the first view, ms. */
  startTs: number;
  /** Share of records that are interactions (0: views only). */
  interactionShare: number;
}

/** The share of interactions `riptide run engagement-analytics` and the three-topic loadgen generate. */
export const ENGAGEMENT_INTERACTION_SHARE = 0.2;

/** Generator action ids: ACTIONS' codes, and one unknown action for invalid interactions. */
const ACTION_NAMES: readonly string[] = [...ACTIONS, "dislike"];
const ACTION_DISLIKE = ACTIONS.length;

export const ENGAGEMENT_DEFAULTS: EngagementGeneratorOptions = {
  seed: 42, users: 2000, contents: 300, partitions: 4, invalidShare: 0.005, lateShare: 0.003, startTs: 1_700_000_000_000,
  interactionShare: 0,
};

/** The columns a generator writes. */
export interface ViewColumns {
  userId: Uint32Array | Float64Array;
  contentId: Uint32Array | Float64Array;
  watchSeconds: Float64Array;
  durationSeconds: Float64Array;
  ts: Float64Array;
  /** Needed when the generator makes interactions (interactionShare > 0): action id, 0 for a view. */
  action?: Uint32Array | Float64Array;
  /** Needed with `action`: a rate's rating, NaN otherwise. */
  rating?: Float64Array;
}

export interface ContentRow {
  contentId: string;
  title: string;
  genre: string;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(b + 0x27d4eb2f, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export class EngagementGenerator {
  readonly options: EngagementGeneratorOptions;
  readonly partitions: number;
  private readonly state: Uint32Array;
  private readonly ts: Float64Array;
  private readonly genreOf: Uint8Array;
  private readonly duration: Float64Array;
  private readonly byGenre: Uint32Array[];

  constructor(options: Partial<EngagementGeneratorOptions> = {}) {
    const o = { ...ENGAGEMENT_DEFAULTS, ...options };
    for (const k of ["users", "contents", "partitions"] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`${k} must be a positive integer, got ${o[k]}`);
    }
    if (o.users < o.partitions) throw new RangeError(`users (${o.users}) must be at least partitions (${o.partitions})`);
    if (!(o.interactionShare >= 0 && o.interactionShare < 1)) throw new RangeError(`interactionShare must be within [0, 1), got ${o.interactionShare}`);
    this.options = o;
    this.partitions = o.partitions;
    this.state = new Uint32Array(o.partitions);
    for (let p = 0; p < o.partitions; p++) this.state[p] = mix(o.seed + 1, p + 1) || 1;
    this.ts = new Float64Array(o.partitions).fill(o.startTs);
    this.genreOf = new Uint8Array(o.contents);
    this.duration = new Float64Array(o.contents);
    const lists: number[][] = GENRES.map(() => []);
    for (let j = 0; j < o.contents; j++) {
      const h = mix(o.seed, j + 7);
      const g = h % GENRES.length;
      this.genreOf[j] = g;
      this.duration[j] = 1200 + (mix(h, 3) % 7800);
      lists[g]!.push(j);
    }
    this.byGenre = lists.map((l) => Uint32Array.from(l));
  }

  /** xorshift32 in [0, 1), per partition. */
  private rand(p: number): number {
    let x = this.state[p]!;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.state[p] = x;
    return x / 4294967296;
  }

  /** The metadata of every content (the content-metadata table). */
  catalog(): ContentRow[] {
    const rows: ContentRow[] = [];
    for (let j = 0; j < this.options.contents; j++) rows.push(this.contentRow(j));
    return rows;
  }

  contentRow(j: number): ContentRow {
    const h = mix(this.options.seed ^ 0x1234, j);
    return {
      contentId: this.contentName(j + 1),
      title: `${WORDS_A[h % WORDS_A.length]} ${WORDS_B[(h >>> 8) % WORDS_B.length]} ${j}`,
      genre: GENRES[this.genreOf[j]!]!,
    };
  }

  private active(k: number, t: number): boolean {
    return (t + (mix(this.options.seed, k) % CYCLE_MS)) % CYCLE_MS < ACTIVE_MS;
  }

  /** Writes the next n records (views, and interactions with interactionShare > 0) of partition p at index `at` of `c`. */
  fill(p: number, c: ViewColumns, at: number, n: number): void {
    const { users, contents, partitions, invalidShare, lateShare, interactionShare } = this.options;
    const perPartition = Math.floor((users - 1 - p) / partitions) + 1; // users k ≡ p (mod partitions)
    const actions = c.action, ratings = c.rating;
    if (interactionShare > 0 && (actions === undefined || ratings === undefined)) throw new RangeError("a generator of interactions needs the action and rating columns");
    for (let j = at; j < at + n; j++) {
      const t = this.ts[p]! + 1 + Math.floor(this.rand(p) * 2000);
      this.ts[p] = t;
      const interaction = interactionShare > 0 && this.rand(p) < interactionShare;
      let k = 0;
      for (let a = 0; a < 6; a++) {
        k = p + partitions * Math.floor(this.rand(p) * perPartition);
        if (this.active(k, t)) break;
      }
      let content: number;
      const h = mix(this.options.seed, k);
      const preferred = this.rand(p) < 0.7;
      if (preferred) {
        const list = this.byGenre[(this.rand(p) < 0.6 ? h : h >>> 8) % GENRES.length]!;
        content = list.length > 0 ? list[Math.floor(this.rand(p) * list.length)]! : Math.floor(this.rand(p) * contents);
      } else {
        content = Math.floor(this.rand(p) * contents);
      }
      if (interaction) {
        this.interaction(p, c, j, k, content, preferred, t);
        continue;
      }
      const duration = this.duration[content]!;
      const r = this.rand(p);
      let watch: number;
      if (r < 0.35) watch = Math.ceil(duration * (0.9 + 0.1 * this.rand(p)));
      else if (r < 0.65) watch = 30 + Math.floor(this.rand(p) * 271);
      else watch = 301 + Math.floor(this.rand(p) * (0.89 * duration - 301));
      let user = k + 1;
      let cid = content + 1;
      let dur = duration;
      let ts = t;
      const bad = this.rand(p);
      if (bad < invalidShare) {
        const which = Math.floor((bad / invalidShare) * 4);
        if (which === 0) user = 0;
        else if (which === 1) cid = 0;
        else if (which === 2) watch = NaN;
        else dur = 0;
      } else if (bad < invalidShare + lateShare) {
        ts = t - 600_000;
      }
      c.userId[j] = user;
      c.contentId[j] = cid;
      c.watchSeconds[j] = watch;
      c.durationSeconds[j] = dur;
      c.ts[j] = ts;
      if (actions !== undefined) actions[j] = 0;
      if (ratings !== undefined) ratings[j] = NaN;
    }
  }

  /** Interaction j of user k with `content` at t (`preferred`: of one of the user's genres). */
  private interaction(p: number, c: ViewColumns, j: number, k: number, content: number, preferred: boolean, t: number): void {
    const { invalidShare, lateShare } = this.options;
    const r = this.rand(p);
    let action = r < 0.4 ? 1 : r < 0.7 ? 4 : r < 0.9 ? 3 : 2;
    let rating = NaN;
    if (action === 4) rating = preferred ? 3 + Math.floor(this.rand(p) * 3) : 1 + Math.floor(this.rand(p) * 5);
    let user = k + 1;
    let cid = content + 1;
    let ts = t;
    const bad = this.rand(p);
    if (bad < invalidShare) {
      const which = Math.floor((bad / invalidShare) * 4);
      if (which === 0) user = 0;
      else if (which === 1) cid = 0;
      else if (which === 2) action = ACTION_DISLIKE;
      else { action = 4; rating = 7; }
    } else if (bad < invalidShare + lateShare) {
      ts = t - 2_400_000;
    }
    c.userId[j] = user;
    c.contentId[j] = cid;
    c.watchSeconds[j] = NaN;
    c.durationSeconds[j] = NaN;
    c.ts[j] = ts;
    c.action![j] = action;
    c.rating![j] = rating;
  }

  actionName(id: number): string {
    return ACTION_NAMES[id] ?? "";
  }

  userName(id: number): string {
    return id === 0 ? "" : `user-${id - 1}`;
  }

  contentName(id: number): string {
    return id === 0 ? "" : `content-${id - 1}`;
  }

  idName(field: string, id: number): string {
    return field === "contentId" ? this.contentName(id) : field === "action" ? this.actionName(id) : this.userName(id);
  }

  /** Record i of columns (a view, or an interaction when its action id is not 0) as JSON would carry it. */
  toEvent(c: ViewColumns, i: number): Record<string, unknown> {
    const a = c.action?.[i] ?? 0;
    if (a !== 0) return interactionEventFromFields(this.userName(c.userId[i]!), this.contentName(c.contentId[i]!), this.actionName(a), c.rating![i]!, c.ts[i]!);
    return viewEventFromFields(this.userName(c.userId[i]!), this.contentName(c.contentId[i]!), c.watchSeconds[i]!, c.durationSeconds[i]!, c.ts[i]!);
  }
}

/** The engagement generator's views as a source: written straight into ring slots. */
export class EngagementGeneratorSource implements Source {
  readonly partitions: number;
  readonly maxInFlight = Infinity;
  private remaining: number;
  private readonly next: Float64Array;
  private readonly scratch: ViewColumns = {
    userId: new Uint32Array(1), contentId: new Uint32Array(1), watchSeconds: new Float64Array(1), durationSeconds: new Float64Array(1), ts: new Float64Array(1),
    action: new Uint32Array(1), rating: new Float64Array(1),
  };

  /** `limit`: total views over all partitions (Infinity: unbounded). */
  constructor(readonly generator: EngagementGenerator, limit = Infinity) {
    this.partitions = generator.partitions;
    this.remaining = limit;
    this.next = new Float64Array(generator.partitions);
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = Math.min(max, this.remaining);
    if (n <= 0) return 0;
    const c = columns as unknown as ViewInputColumns;
    this.generator.fill(p, c, 0, n);
    const base = this.next[p]!;
    for (let i = 0; i < n; i++) c._off[i] = base + i;
    this.next[p] = base + n;
    this.remaining -= n;
    return n;
  }

  exhausted(): boolean {
    return this.remaining <= 0;
  }

  /**
   * Side outputs carry key user, a content, c ts and, for a view, b watch, d duration; for an
   * interaction (f = KIND_INTERACTION), b action id, d rating.
   */
  event(out: OutputColumns, i: number): unknown {
    const s = this.scratch;
    s.userId[0] = out.key[i]!;
    s.contentId[0] = out.a[i]!;
    s.ts[0] = out.c[i]!;
    const interaction = out.f[i] === KIND_INTERACTION;
    s.watchSeconds[0] = interaction ? NaN : out.b[i]!;
    s.durationSeconds[0] = interaction ? NaN : out.d[i]!;
    s.action![0] = interaction ? out.b[i]! : 0;
    s.rating![0] = interaction ? out.d[i]! : NaN;
    return this.generator.toEvent(s, 0);
  }

  idName(field: string, id: number): string {
    return this.generator.idName(field, id);
  }

  async close(): Promise<void> {}
}

import { DEMO_USER_COUNT, SEEDS, demoUserId } from '../shared/demo-dataset.js';
import { createSeededRandom } from '../shared/prng.js';
import type { DataAccessStats } from '../shared/stats.js';

export const USER_TIERS = ['free', 'pro', 'enterprise'] as const;
export type UserTier = (typeof USER_TIERS)[number];

export interface User {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly tier: UserTier;
}

const FIRST_NAMES = [
  'Ada',
  'Alan',
  'Barbara',
  'Claude',
  'Dennis',
  'Edsger',
  'Frances',
  'Grace',
  'Hedy',
  'Ivan',
  'Joan',
  'Ken',
  'Linus',
  'Margaret',
  'Niklaus',
  'Radia',
  'Sophie',
  'Tim',
  'Whitfield',
  'Yukihiro',
] as const;
const LAST_NAMES = [
  'Allen',
  'Backus',
  'Cerf',
  'Dijkstra',
  'Engelbart',
  'Floyd',
  'Goldberg',
  'Hamilton',
  'Hopper',
  'Kay',
  'Knuth',
  'Lamarr',
  'Liskov',
  'Lovelace',
  'Perlman',
  'Ritchie',
  'Thompson',
  'Turing',
  'Wirth',
] as const;

function pickTier(roll: number): UserTier {
  if (roll < 0.7) return 'free';
  return roll < 0.93 ? 'pro' : 'enterprise';
}

function generateUsers(): User[] {
  const random = createSeededRandom(SEEDS.users);
  const users: User[] = [];
  for (let ordinal = 1; ordinal <= DEMO_USER_COUNT; ordinal++) {
    const first = random.pick(FIRST_NAMES);
    const last = random.pick(LAST_NAMES);
    users.push({
      id: demoUserId(ordinal),
      name: `${first} ${last}`,
      email: `${first}.${last}.${ordinal}@example.com`.toLowerCase(),
      tier: pickTier(random.next()),
    });
  }
  return users;
}

/** The users data layer: the seeded users of one server process. */
export interface UserStore {
  /** Batch function (counted as `usersById`): one result per id, null for unknown ids. */
  findUsersByIds(ids: readonly string[]): Promise<(User | null)[]>;
  /** Every user in id order (for pagination); not a batch function, not counted. */
  listUsers(): readonly User[];
}

export function createUserStore(stats: DataAccessStats): UserStore {
  const users = generateUsers();
  const usersById = new Map(users.map((user) => [user.id, user]));
  return {
    async findUsersByIds(ids) {
      stats.recordBatch('usersById', ids.length);
      return ids.map((id) => usersById.get(id) ?? null);
    },
    listUsers: () => users,
  };
}

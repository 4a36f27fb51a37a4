import { buildSchema, parse, type GraphQLSchema } from 'graphql';
import { argumentCoordinate, costModelFromSdl, type CostModel } from '../../gateway/src/cost/model.js';

/**
 * A schema with every construct the cost rules care about: @cost on fields, arguments, input
 * fields, types, scalars and enums; @listSize with slicing arguments, sized fields and assumed
 * sizes; an interface, a union, nested lists, a mutation with an input object.
 * `Query.books(first:)` is limited to 100.
 */
export const COST_TEST_SDL = /* GraphQL */ `
  directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR
  directive @listSize(
    assumedSize: Int
    slicingArguments: [String!]
    sizedFields: [String!]
    requireOneSlicingArgument: Boolean = true
  ) on FIELD_DEFINITION

  scalar Money @cost(weight: 3)
  enum Color @cost(weight: 2) {
    RED
    BLUE
  }

  type Query {
    book(id: ID!): Book
    books(first: Int, last: Int): [Book!]! @listSize(slicingArguments: ["first", "last"], requireOneSlicingArgument: false)
    search(term: String! @cost(weight: 4)): [SearchResult!]! @listSize(assumedSize: 3)
    media: Media
    tags: [String!]!
    shelf: Shelf
    authors(first: Int = 5): AuthorConnection! @listSize(slicingArguments: ["first"], sizedFields: ["edges"])
    strict(first: Int, last: Int): [Book!]! @listSize(slicingArguments: ["first", "last"])
    expensive: Int @cost(weight: 7)
  }
  type Mutation {
    addBook(input: BookInput!): Book
  }
  input BookInput {
    title: String!
    tags: [TagInput!]
    price: Money
  }
  input TagInput {
    name: String! @cost(weight: 2)
  }
  interface Media {
    id: ID!
    title: String
  }
  type Book implements Media {
    id: ID!
    title: String
    pages: Int @cost(weight: 5)
    price: Money
    color: Color
    author: Author
  }
  type Movie implements Media {
    id: ID!
    title: String
    minutes: Int
    cast: [Author!]! @listSize(assumedSize: 20)
  }
  type Author @cost(weight: 3) {
    name: String
  }
  union SearchResult = Book | Author
  type Shelf {
    books: [Book!]! @listSize(assumedSize: 4)
    nested: [[Book]]
  }
  type AuthorConnection {
    edges: [AuthorEdge!]!
    total: Int
  }
  type AuthorEdge {
    node: Author
  }
`;

export function costTestSchema(): { schema: GraphQLSchema; model: CostModel } {
  const model = costModelFromSdl(parse(COST_TEST_SDL));
  model.argumentLimits.set(argumentCoordinate('Query', 'books', 'first'), { max: 100 });
  return { schema: buildSchema(COST_TEST_SDL), model };
}

import { describe, expect, it } from 'vitest';
import { mismatchText, usersOrdersProducts, usersOrdersProductsText } from '../bench/expected.js';

const cursor = (offset: number) => Buffer.from(`offset:${offset}`).toString('base64url');

describe('the benchmark answer check', () => {
  it('builds the expected answer text that JSON.stringify gives for the expected data', () => {
    for (const after of [null, cursor(0), cursor(9), cursor(2_500), cursor(4_899)]) {
      expect(usersOrdersProductsText(after)).toBe(JSON.stringify({ data: usersOrdersProducts(after) }));
    }
  });

  it('takes the expected text, with or without a final newline, and the same data serialised otherwise', () => {
    const after = cursor(41);
    const text = usersOrdersProductsText(after);
    const data = () => usersOrdersProducts(after);
    expect(mismatchText(text, text, data)).toBeUndefined();
    expect(mismatchText(`${text}\n`, text, data)).toBeUndefined();
    expect(mismatchText(JSON.stringify({ data: data() }, null, 2), text, data)).toBeUndefined();
    const withCost = `${text.slice(0, -1)},"extensions":{"cost":{"requestedQueryCost":1731,"actualQueryCost":325}}}`;
    expect(mismatchText(withCost, text, data)).toBeUndefined();
    expect(mismatchText(`${withCost}\n`, text, data)).toBeUndefined();
  });

  it('fails another page, a changed price, errors and a body that is not JSON, with the reason', () => {
    const after = cursor(41);
    const text = usersOrdersProductsText(after);
    const data = () => usersOrdersProducts(after);
    expect(mismatchText(usersOrdersProductsText(cursor(42)), text, data)).toMatch(/^wrong data: /);
    expect(mismatchText(text.replace(/"price":(\d+)/, '"price":$11'), text, data)).toMatch(/^wrong data: /);
    expect(mismatchText(`${text.slice(0, -1)},"errors":[{"message":"boom"}]}`, text, data)).toMatch(/^errors: /);
    expect(mismatchText(`${text}x`, text, data)).toMatch(/^not JSON: /);
    expect(mismatchText(`${text.slice(0, -1)},"extensions":{},"data":null}`, text, data)).toMatch(/^wrong data: /);
  });
});

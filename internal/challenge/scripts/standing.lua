-- standing: tell whether the assertion of verification KEYS[1] is still in force
-- (prelude: stands). Read only.
-- Returns {'stands'} | {'revoked'}.
if stands(KEYS[1]) then
  return {'stands'}
end
return {'revoked'}

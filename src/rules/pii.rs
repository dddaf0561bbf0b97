//! Personal data in published text (保密审查): citizen ID numbers with a valid
//! check digit, mobile numbers, bank card numbers passing Luhn. Pure.

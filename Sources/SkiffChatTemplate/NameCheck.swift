/// Jinja's compile-time check for filter and test names: an unknown name is a syntax error,
/// unless it sits in a conditional part of the template (an `if` tag or body, or an
/// `a if b else c` expression, not crossing a `for` body, macro or block), where Jinja only
/// fails if that code runs, so templates can guard optional filters.
enum NameCheck {
    static func check(_ body: [Statement], conditional: Bool = false) throws(ChatTemplateError) {
        for statement in body {
            switch statement.kind {
            case .text:
                break
            case .output(let expression), .set(_, let expression):
                try check(expression, conditional: conditional)
            case .conditional(let branches, let otherwise):
                for branch in branches {
                    try check(branch.test, conditional: true)
                    try check(branch.body, conditional: true)
                }
                try check(otherwise, conditional: true)
            case .forLoop(let loop):
                try check(loop.iterable, conditional: conditional)
                if let condition = loop.condition { try check(condition, conditional: false) }
                try check(loop.body, conditional: false)
                try check(loop.otherwise, conditional: false)
            case .setBlock(_, let filters, let body), .filterBlock(let filters, let body):
                for filter in filters {
                    try checkFilter(filter.name, at: filter.location, conditional: false)
                    for argument in filter.arguments.expressions { try check(argument, conditional: false) }
                }
                try check(body, conditional: false)
            case .macro(let definition):
                try check(definition, conditional: conditional)
            case .callBlock(let call, let caller):
                try check(call, conditional: conditional)
                try check(caller, conditional: conditional)
            case .breakLoop, .continueLoop:
                break
            }
        }
    }

    private static func check(_ macro: MacroDefinition, conditional: Bool) throws(ChatTemplateError) {
        for parameter in macro.parameters {
            if let defaultValue = parameter.defaultValue { try check(defaultValue, conditional: conditional) }
        }
        try check(macro.body, conditional: false)
    }

    private static func check(_ expression: Expression, conditional: Bool) throws(ChatTemplateError) {
        switch expression.kind {
        case .filter(_, let name, _):
            try checkFilter(name, at: expression.location, conditional: conditional)
        case .test(_, let name, _, _):
            if !conditional, !TestName.isKnown(name) {
                throw ChatTemplateError(.syntax, "unknown test '\(name)'", at: expression.location)
            }
        default:
            break
        }
        let insideConditional: Bool
        if case .conditional = expression.kind { insideConditional = true } else { insideConditional = conditional }
        for child in expression.children { try check(child, conditional: insideConditional) }
    }

    private static func checkFilter(_ name: String, at location: SourceLocation, conditional: Bool) throws(ChatTemplateError) {
        if !conditional, !FilterName.isKnown(name) {
            throw ChatTemplateError(.syntax, "unknown filter '\(name)'", at: location)
        }
    }
}

namespace QemuTestKit.Introspection.Catalog;

/// <summary>
/// CPU models read from QOM types, for targets without <c>query-cpu-definitions</c> (riscv64 on QEMU 7.2). QEMU names a
/// model's type MODEL-BASE, where BASE is the target's abstract CPU type right under <c>cpu</c> (riscv-cpu, arm-cpu,
/// x86_64-cpu), and <c>-cpu MODEL</c> looks that type up: so every concrete type below BASE whose name ends in -BASE is
/// a model, named by what comes before.
/// </summary>
public static class QomCpuModels
{
    /// <summary>The QOM type every CPU type derives from.</summary>
    public const string CpuType = "cpu";

    /// <summary>The CPU models among <paramref name="types"/>, sorted by name.</summary>
    public static CpuModel[] From(IReadOnlyList<QomType> types)
    {
        ArgumentNullException.ThrowIfNull(types);
        var parents = types.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Parent, StringComparer.Ordinal);
        return types
            .Where(t => !t.Abstract)
            .Select(t => (Type: t, Base: BaseOf(t.Name, parents)))
            .Where(c => c.Base is not null && c.Type.Name.EndsWith("-" + c.Base, StringComparison.Ordinal))
            .Select(c => new CpuModel(c.Type.Name[..^(c.Base!.Length + 1)], c.Type.Name, Static: false, Deprecated: false))
            .Where(m => m.Name.Length > 0)
            .OrderBy(m => m.Name, StringComparer.Ordinal)
            .ToArray();
    }

    // The ancestor right under "cpu", or null when the type is no CPU (or its ancestry is broken or loops).
    private static string? BaseOf(string type, Dictionary<string, string?> parents)
    {
        var current = type;
        for (var depth = 0; depth < 64 && parents.TryGetValue(current, out var parent) && parent is not null; depth++)
        {
            if (parent == CpuType)
            {
                return current == type ? null : current;
            }

            current = parent;
        }

        return null;
    }
}

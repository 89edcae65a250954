using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Specs;

/// <summary>
/// A spec's architecture comes from its binary: a spec that declares none takes the target the binary reports
/// (<c>query-target</c>), so that what the build writes, bundles and <c>bundle info</c> say is what really ran.
/// A declared architecture is left as it is; the validator reports it when it disagrees (QTK1029).
/// </summary>
public static class MachineSpecArchitecture
{
    /// <summary><paramref name="spec"/> with <see cref="MachineSpec.Architecture"/> set to <paramref name="catalog"/>'s target when it declares none.</summary>
    public static MachineSpec WithTargetOf(this MachineSpec spec, QemuCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        return spec.Architecture is null && !string.IsNullOrEmpty(catalog.Target) ? spec with { Architecture = catalog.Target } : spec;
    }
}
